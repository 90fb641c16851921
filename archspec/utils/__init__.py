"""Helpers every layer may use and that know nothing of networks: files written atomically
(``atomic``) and matplotlib figures saved to files (``figures``)."""
