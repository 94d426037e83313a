"""The studies `normact reproduce` knows: one module per preset, each registering itself on import."""
