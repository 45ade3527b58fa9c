"""User input (arrays, ragged lists, token ids) as padded sequences with masks."""
