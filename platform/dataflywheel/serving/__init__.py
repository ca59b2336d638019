"""The request path: the event collector and (next) the ranking service, behind one HTTP app."""
