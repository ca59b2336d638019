"""The contracts every other folder builds on: the event schema and every vocabulary.

Imports only ``settings`` (where the dbt project is, for the generated vocabulary macros);
everything else may import from here.
"""
