# Mask2Former R101, COCO instance segmentation, 50 epochs: mask AP 44.2 (reference model zoo).
# Our R50 config with ResNet-101, as the host configs do it.
_base_ = ['./mask2former_r50_8xb2-lsj-50e_coco.py']
model = dict(backbone=dict(
    depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
