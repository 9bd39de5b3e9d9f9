"""Runner hooks; importing this package registers them."""
from .hooks import DataSanityHook

__all__ = ['DataSanityHook']
