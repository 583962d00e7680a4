"""Sigma rule support: load (:mod:`.loader`), compile (:mod:`.compiler`), match (:mod:`.matcher`),
correlate (:mod:`.correlation`)."""
