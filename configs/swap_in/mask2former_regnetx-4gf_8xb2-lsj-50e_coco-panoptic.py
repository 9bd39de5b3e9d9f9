# Swap-in: m2f_mm's head on mmdet's RegNetX-4.0GF backbone, COCO panoptic, 50 epochs of
# large-scale jitter. Not a reference model: no published result to compare with.
# Our R50 config (mmdet's Mask2Former detector, data, schedule, the Mask2Former optimiser)
# with the backbone of mmdet::regnet/mask-rcnn_regnetx-4GF_fpn_1x_coco.py.
_base_ = ['../mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py']
model = dict(
    # The pycls-trained RegNet weights expect BGR input with pycls' mean and std, as in
    # mmdet's RegNet configs (mask-rcnn_regnetx-3.2GF_fpn_1x_coco.py).
    data_preprocessor=dict(mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395],
                           bgr_to_rgb=False),
    backbone=dict(
        _base_.frozen_bn_backbone,
        _delete_=True,  # the R50's ResNet keys (depth, num_stages, ...) mean nothing to RegNet
        type='RegNet', arch='regnetx_4.0gf', out_indices=(0, 1, 2, 3), style='pytorch',
        # mmdet's RegNet configs freeze the stem and first stage and train BN's affine
        # (Mask R-CNN's recipe); Mask2Former's freezes BN only, as our R50 config does
        # (the reference's FrozenBN, FREEZE_AT 0).
        frozen_stages=-1,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://regnetx_4.0gf')),
    panoptic_head=dict(in_channels=_base_.backbone_channels.regnetx_4gf))
# The R50 config's optimiser carries over unchanged (AdamW 1e-4, weight decay 0.05, clip
# 0.01, backbone lr x0.1, no decay on norms and the query/level embeddings). None of its
# custom keys is ResNet-specific ('backbone', 'query_embed', 'query_feat', 'level_embed'):
# with RegNet's BN frozen like the R50's, no BN parameter is trained, so no key like
# resnet_norm_keys (needed where BN trains, against the 'backbone' key's decay) applies.
