# Mask2Former R101, Cityscapes panoptic, 90k iters.
# Reference model zoo: PQ 62.4, AP 37.7, mIoU 78.6.
# Our R50 config with ResNet-101, as the host configs do it.
_base_ = ['./mask2former_r50_8xb2-90k_cityscapes-panoptic-512x1024.py']
model = dict(backbone=dict(
    depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
