# The model parts that m2f_mm's configs put into their host configs: one head per dataset,
# the channels of each backbone's four levels (strides 4, 8, 16, 32), mmdet's detector
# around the det heads, and the backbone norm settings where a host differs from the
# reference. A config combines them, e.g.
#     panoptic_head=dict(_base_.coco_panoptic_head, in_channels=_base_.backbone_channels.swin_b)
# Every head setting not given here is the code's default, which is the paper's.
backbone_channels = dict(
    resnet=[256, 512, 1024, 2048],  # ResNet-50 and ResNet-101
    swin_t=[96, 192, 384, 768], swin_s=[96, 192, 384, 768],
    swin_b=[128, 256, 512, 1024], swin_l=[192, 384, 768, 1536],
    mit_b0=[32, 64, 160, 256],  # SegFormer's MiT-B0 (mmseg's MixVisionTransformer)
    regnetx_4gf=[80, 240, 560, 1360])  # mmdet's RegNet, arch 'regnetx_4.0gf'
_det_head = dict(_delete_=True, type='m2f_mm.Mask2FormerDetHead', strides=[4, 8, 16, 32])
_decode_head = dict(_delete_=True, type='m2f_mm.Mask2FormerDecodeHead', strides=[4, 8, 16, 32])
coco_panoptic_head = dict(_det_head, num_things_classes=80, num_stuff_classes=53)
coco_instance_head = dict(_det_head, num_things_classes=80, num_stuff_classes=0)
ade20k_decode_head = dict(_decode_head, num_classes=150)
cityscapes_decode_head = dict(_decode_head, num_classes=19)

# mmdet's Mask2Former around a det head (set as `panoptic_head`); it gives the fusion head
# the class counts. Matching and point sampling live in the head's criterion, hence no
# train_cfg.
coco_panoptic_model = dict(
    type='m2f_mm.Mask2FormerDetector',
    panoptic_fusion_head=dict(_delete_=True, type='m2f_mm.Mask2FormerFusionHead'),
    train_cfg=None,
    test_cfg=dict(_delete_=True, panoptic_on=True, semantic_on=True, instance_on=True))
coco_instance_model = dict(coco_panoptic_model,
                           test_cfg=dict(_delete_=True, instance_on=True, panoptic_on=False))

# The reference freezes BN (statistics included) except where it trains SyncBN: Cityscapes
# and the ADE20K R101. mmseg's configs do neither: they freeze the affine and update the
# statistics. Trained BN needs its own optimiser keys: mmengine applies only the longest
# matching custom key, so the hosts' 'backbone' key would give BN weight decay.
frozen_bn_backbone = dict(norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True)
sync_bn_backbone = dict(norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False)
_bn_multi = dict(lr_mult=0.1, decay_mult=0.0)
resnet_norm_keys = {
    'backbone.bn1': _bn_multi,
    **{f'backbone.layer{stage}.0.downsample.1': _bn_multi for stage in range(1, 5)},
    # ResNet-101's blocks per stage; ResNet-50 has a subset of them.
    **{f'backbone.layer{stage + 1}.{block}.bn': _bn_multi
       for stage, num_blocks in enumerate((3, 4, 23, 3)) for block in range(num_blocks)},
}
