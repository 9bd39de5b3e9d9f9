"""The class order of published panoptic checkpoints against m2f_mm's labels.

The reference and transformers' port number the classes of their ADE20K, Cityscapes
and Mapillary Vistas panoptic models in the dataset's own order (ADE20K's semantic
labels, Cityscapes' train ids, Mapillary's category ids), things and stuff
interleaved. mmdet, and so m2f_mm, numbers panoptic labels things first
(:mod:`m2f_mm.datasets.definitions`), so a checkpoint converted for those configs has
its class rows reordered. COCO lists its things first already, and the instance and
semantic models keep the dataset's order.
"""
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

__all__ = ['reference_label_order', 'reorder_classes']

# Dataset type -> module of m2f_mm.datasets.definitions.
_PANOPTIC_TABLES = {'ADE20KPanopticDataset': 'ade20k',
                    'CityscapesPanopticDataset': 'cityscapes',
                    'MapillaryVistasPanopticDataset': 'mapillary_vistas'}


def reference_label_order(dataset_type: str) -> Optional[List[int]]:
    """For each m2f_mm label of a dataset, the reference's class index; None where
    the two orders agree.

    Args:
        dataset_type: The config's dataset type, e.g. ``'m2f_mm.CityscapesPanopticDataset'``,
            or None.
    """
    name = _PANOPTIC_TABLES.get(str(dataset_type).split('.')[-1])
    if name is None:
        return None
    # Imported here: m2f_mm.datasets registers the host-library parts on import, and the
    # core (which imports this package for its class-count check) imports no host.
    from m2f_mm.datasets import definitions
    return definitions.things_first(getattr(definitions, name).IS_THING)


def reorder_classes(state_dict: Dict[str, Tensor],
                    order: List[int]) -> Tuple[Dict[str, Tensor], List[str]]:
    """Put the class rows of ``class_embed`` in m2f_mm's label order ("no object" stays
    last). A class layer of another size is left for the class-count check.

    Returns:
        The state dict and the lines to print.
    """
    rows = torch.tensor(list(order) + [len(order)])
    reordered = {key: value[rows] for key, value in state_dict.items()
                 if key.endswith(('class_embed.weight', 'class_embed.bias'))
                 and value.shape[0] == len(rows)}
    if not reordered:
        return state_dict, []
    return {**state_dict, **reordered}, [
        f'class rows reordered from the reference\'s dataset order to things first '
        f'({len(order)} classes): {", ".join(sorted(reordered))}']
