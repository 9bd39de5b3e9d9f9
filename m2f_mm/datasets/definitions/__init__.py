"""The class tables of the paper's datasets, from their official definitions
(one module each, no host library needed), and the metainfo built from them.

Each module gives ``CLASSES`` and ``PALETTE`` in the dataset's own label order
and ``IS_THING`` per class. mmdet numbers panoptic labels things first, so the
panoptic metainfo and categories list the things, then the stuff, each in the
dataset's order.
"""
from typing import Iterable, List, Sequence

from . import ade20k, cityscapes, mapillary_vistas

__all__ = ['ade20k', 'cityscapes', 'mapillary_vistas', 'things_first', 'panoptic_categories',
           'panoptic_metainfo', 'instance_metainfo', 'semantic_metainfo']


def things_first(is_thing: Sequence[bool]) -> List[int]:
    """The dataset's class indices in panoptic label order: the things, then the stuff."""
    return ([i for i, thing in enumerate(is_thing) if thing]
            + [i for i, thing in enumerate(is_thing) if not thing])


def panoptic_categories(classes: Sequence[str], is_thing: Sequence[bool],
                        palette: Sequence[tuple], ids: Iterable[int]) -> List[dict]:
    """COCO panoptic ``categories`` (``id``, ``name``, ``isthing``, ``color``), things
    first; ``ids`` gives each class's category id, in the dataset's order."""
    ids = list(ids)
    return [dict(id=int(ids[i]), name=classes[i], isthing=int(is_thing[i]),
                 color=list(palette[i])) for i in things_first(is_thing)]


def panoptic_metainfo(classes: Sequence[str], is_thing: Sequence[bool],
                      palette: Sequence[tuple]) -> dict:
    """mmdet's panoptic metainfo: ``classes`` (things, then stuff), ``thing_classes``,
    ``stuff_classes`` and ``palette`` in that order."""
    order = things_first(is_thing)
    return dict(classes=tuple(classes[i] for i in order),
                thing_classes=tuple(classes[i] for i in order if is_thing[i]),
                stuff_classes=tuple(classes[i] for i in order if not is_thing[i]),
                palette=[tuple(palette[i]) for i in order])


def instance_metainfo(classes: Sequence[str], is_thing: Sequence[bool],
                      palette: Sequence[tuple]) -> dict:
    """mmdet's instance metainfo: the thing classes in the dataset's order."""
    return dict(classes=tuple(c for c, thing in zip(classes, is_thing) if thing),
                palette=[tuple(p) for p, thing in zip(palette, is_thing) if thing])


def semantic_metainfo(classes: Sequence[str], palette: Sequence[tuple]) -> dict:
    """mmseg's metainfo: every class in the dataset's order."""
    return dict(classes=tuple(classes), palette=[list(p) for p in palette])
