"""Data loading for COCO panoptic; importing this package registers the transforms."""
from .transforms import LoadCocoPanopticAnnotations

__all__ = ['LoadCocoPanopticAnnotations']
