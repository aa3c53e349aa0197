"""Methods added as one file each: a module here registers its pieces (an objective, a
label encoder, ...) with ffjax/registry.py, and a config in configs/ names them. Every
module of this package is imported the first time a piece is looked up by name, so
nothing else in ffjax names a method defined here. See the README, "Adding a method".
"""
