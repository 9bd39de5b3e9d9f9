# Mask2Former R50 instance segmentation on your own COCO-format instance data (one JSON per
# split, polygons or RLE): COCO instance's recipe (docs/custom_dataset.md). Edit the paths
# and the class names below; the class count follows from the names.
_base_ = ['../mask2former/mask2former_r50_8xb2-lsj-50e_coco.py']

# ---- edit: your data -----------------------------------------------------------------------
data_root = 'data/my_instances/'
train_json = 'annotations/instances_train.json'
train_images = 'train/'
val_json = 'annotations/instances_val.json'
val_images = 'val/'
# The category names of the JSON files, in their order there (a subset is allowed: the
# annotations of the other categories are left out).
classes = ('person', 'car')
# ---------------------------------------------------------------------------------------------

metainfo = dict(classes=classes)
model = dict(panoptic_head=dict(num_things_classes=len(classes), num_stuff_classes=0))
# m2f_mm's dataset is mmdet's, stopping on unknown category ids and misnamed classes.
train_dataloader = dict(dataset=dict(
    type='m2f_mm.CocoDataset', data_root=data_root, metainfo=metainfo, ann_file=train_json,
    data_prefix=dict(img=train_images)))
val_dataloader = dict(dataset=dict(
    type='m2f_mm.CocoDataset', data_root=data_root, metainfo=metainfo, ann_file=val_json,
    data_prefix=dict(img=val_images)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + val_json)
test_evaluator = val_evaluator
