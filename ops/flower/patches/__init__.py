"""Patches of Flower's own behaviour, kept apart from its configuration.

Each module changes one private detail of Flower that no option reaches, says why,
names the upstream issue and the Flower versions it was checked against, and has tests
(tests/test_flower.py) that fail when an upgrade changes what it patches.
ops/flower/flowerconfig.py applies them when Flower loads it.
"""
