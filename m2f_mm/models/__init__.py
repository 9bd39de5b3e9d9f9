"""Mask2Former parts (package init filled in once all parts exist)."""
