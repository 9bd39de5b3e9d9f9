# Mask2Former R101, Cityscapes instance, 90k iters.
# Reference model zoo: AP 38.5, AP50 63.9 (the official Cityscapes AP;
# the default evaluator is COCO-style mask AP, see ../_base_/paper_datasets.py).
# Our R50 config with ResNet-101, as the host configs do it.
_base_ = ['./mask2former_r50_8xb2-90k_cityscapes-instance-512x1024.py']
model = dict(backbone=dict(
    depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
