"""Template tags of the app taskgate: ``{% load taskgate %}``."""
