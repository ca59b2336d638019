"""The request path: the event collector and the ranking service, behind one HTTP app."""
