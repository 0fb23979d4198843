"""GANs as their authors wrote them elsewhere, for the tests of ganport's user-model paths.

Each file is what a user brings: the model classes copied from a well-known script, with
the script's globals as module constants, and nothing ganport-specific. The CLI imports
them by path (``--model FILE.py:NAME``), as it would a user's file.
"""
