"""The contracts every other folder builds on: the event schema and every vocabulary.

Imports nothing from the rest of the package; everything else may import from here.
"""
