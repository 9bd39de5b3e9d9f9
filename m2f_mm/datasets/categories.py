"""The class names of a config against the categories of a COCO-format file.

mmdet numbers the labels in the order of the file's categories and silently
drops the class names that are not among them, so a config whose
``metainfo.classes`` are misspelled, reordered or split into things and stuff
differently from the file trains with shifted labels. These checks stop such a
set-up with one line naming the file and the names.
"""
from typing import Sequence

from m2f_mm.utils.errors import DataError

__all__ = ['check_categories']


def check_categories(ann_file: str, categories: Sequence[dict], metainfo: dict) -> None:
    """Raise unless ``metainfo`` names categories of ``ann_file`` in its order.

    Args:
        ann_file: The COCO-format JSON, for the messages.
        categories: Its ``categories`` entries (``id``, ``name``, and for
            panoptic files ``isthing``), in the file's order.
        metainfo: The dataset's metainfo: ``classes``, and where the config
            gives them, ``thing_classes`` and ``stuff_classes``.

    Raises:
        DataError: A class name that is not a category name of the file; the
            class names in another order than the file's; a thing class marked
            ``isthing: 0`` in the file or a stuff class marked ``isthing: 1``;
            ``classes`` other than the things followed by the stuff.
    """
    classes = list(metainfo['classes'])
    by_name = {category['name']: category for category in categories}
    missing = [name for name in classes if name not in by_name]
    if missing:
        raise DataError(f'{ann_file}: metainfo.classes has {missing}, which are not among the '
                        f"file's category names {list(by_name)}")
    in_file_order = [c['name'] for c in categories if c['name'] in set(classes)]
    if in_file_order != classes:
        raise DataError(f'{ann_file}: metainfo.classes must follow the order of the file\'s '
                        f'categories, which number the labels: {in_file_order}')
    things, stuff = metainfo.get('thing_classes'), metainfo.get('stuff_classes')
    if things is None or stuff is None:
        return
    if classes != list(things) + list(stuff):
        raise DataError(f'{ann_file}: metainfo.classes must be metainfo.thing_classes followed '
                        f'by metainfo.stuff_classes (labels below the thing count are things), '
                        f'got {classes}')
    for name in things:
        if not by_name[name].get('isthing', 1):
            raise DataError(f"{ann_file}: '{name}' is in metainfo.thing_classes but is a stuff "
                            'category (isthing: 0) in the file')
    for name in stuff:
        if by_name[name].get('isthing', 0):
            raise DataError(f"{ann_file}: '{name}' is in metainfo.stuff_classes but is a thing "
                            'category (isthing: 1) in the file')
