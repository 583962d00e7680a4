"""Server-rendered pages of the console (Jinja2 templates in ``web/templates``)."""
