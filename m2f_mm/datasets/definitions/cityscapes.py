"""Cityscapes' 19 evaluated classes, in train-id order, from cityscapesscripts'
label table (``cityscapesscripts.helpers.labels``; the Cityscapes converter checks
that they agree).

Index ``i`` is train id ``i``. ``LABEL_IDS`` are the label ids of the
``gtFine`` annotations, which the converted COCO files keep as category ids.
The 8 classes with instances are the things.
"""
__all__ = ['CLASSES', 'PALETTE', 'LABEL_IDS', 'IS_THING']

CLASSES = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
    'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
    'motorcycle', 'bicycle',
)
PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
IS_THING = tuple(label_id >= 24 for label_id in LABEL_IDS)
