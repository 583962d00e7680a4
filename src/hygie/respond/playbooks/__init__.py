"""CACAO 2.0 playbooks: the schema of the subset Hygie runs, the loader and Hygie's library."""

from hygie.respond.playbooks.loader import (HYGIE_EXTENSION, Library, Playbook, PlaybookError,
                                            PlaybookProblem, load_file, load_library, load_text)

__all__ = ["HYGIE_EXTENSION", "Library", "Playbook", "PlaybookError", "PlaybookProblem", "load_file",
           "load_library", "load_text"]
