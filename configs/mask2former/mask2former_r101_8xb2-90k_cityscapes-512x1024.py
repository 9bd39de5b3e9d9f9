# Mask2Former R101, Cityscapes semantic, 90k iters: mIoU 80.1 (reference model zoo).
# Our R50 config with ResNet-101, as the host configs do it.
_base_ = ['./mask2former_r50_8xb2-90k_cityscapes-512x1024.py']
model = dict(backbone=dict(
    depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
