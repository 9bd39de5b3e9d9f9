# Mask2Former R50 semantic segmentation on your own folders of images and label PNGs:
# ADE20K's recipe (docs/custom_dataset.md). Edit the paths, the class names and how label 0
# is read; the class count follows from the names.
_base_ = ['../mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py']

# ---- edit: your data -----------------------------------------------------------------------
data_root = 'data/my_semantic/'
train_images = 'images/training'
train_labels = 'annotations/training'
val_images = 'images/validation'
val_labels = 'annotations/validation'
image_suffix = '.jpg'
label_suffix = '.png'
classes = ('road', 'building', 'tree')
# False: label value i is classes[i], and 255 is ignored.
# True: 0 is ignored and value i is classes[i - 1] (ADE20K's convention); 255 stays ignored.
reduce_zero_label = False
# ---------------------------------------------------------------------------------------------

model = dict(decode_head=dict(num_classes=len(classes)))
# ADE20K's pipelines, with the labels read as the dataset says (reduce_zero_label above).
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomChoiceResize', scales=[int(512 * x * 0.1) for x in range(5, 21)],
         resize_type='ResizeShortestEdge', max_size=2048),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
_dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=dict(classes=classes),
                img_suffix=image_suffix, seg_map_suffix=label_suffix,
                reduce_zero_label=reduce_zero_label)
train_dataloader = dict(dataset=dict(
    _dataset, data_prefix=dict(img_path=train_images, seg_map_path=train_labels),
    pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    _dataset, data_prefix=dict(img_path=val_images, seg_map_path=val_labels),
    pipeline=test_pipeline))
test_dataloader = val_dataloader
