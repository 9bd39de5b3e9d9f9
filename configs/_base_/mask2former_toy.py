# A tiny Mask2Former (ResNet-18 at half width, narrow head, few queries and points) that
# learns the toy data (tools/generate_toy_data.py) on a CPU in minutes, and its schedule.
# Task configs reference the model parts as {{_base_.toy_*}} and inherit the schedule.
# The backbone's bare type is the host's own ResNet (mmdet's or mmseg's, by default_scope).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
# The toy classes (tools/toy_data.py): three things, then two stuff classes.
toy_classes = ('circle', 'square', 'triangle', 'sky', 'ground')
toy_palette = [(220, 50, 50), (50, 185, 70), (150, 70, 215), (140, 190, 245), (135, 95, 55)]
toy_panoptic_metainfo = dict(classes=toy_classes, thing_classes=toy_classes[:3],
                             stuff_classes=toy_classes[3:], palette=toy_palette)
toy_semantic_metainfo = dict(classes=toy_classes, palette=toy_palette)
toy_backbone = dict(
    type='ResNet', depth=18, base_channels=32, num_stages=4, out_indices=(0, 1, 2, 3),
    norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch')
toy_head = dict(
    in_channels=[32, 64, 128, 256], strides=[4, 8, 16, 32], num_queries=16, embed_dims=64,
    mask_channels=64,
    pixel_decoder=dict(type='m2f_mm.MSDeformAttnPixelDecoder', num_layers=2, num_heads=4,
                       ffn_channels=256, num_groups=16),
    transformer_decoder=dict(type='m2f_mm.MaskedAttentionDecoder', num_heads=4,
                             ffn_channels=256, num_layers=6),
    criterion=dict(type='m2f_mm.Mask2FormerCriterion', num_points=1024))
toy_det_head = dict(toy_head, type='m2f_mm.Mask2FormerDetHead', num_things_classes=3,
                    num_stuff_classes=2)
toy_decode_head = dict(toy_head, type='m2f_mm.Mask2FormerDecodeHead', num_classes=5)
# The paper's optimiser (AdamW, weight decay 0.05, full-model clip 0.01, no decay on norms
# and embeddings) with a higher learning rate: there are no pretrained weights.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys=dict(query_embed=dict(decay_mult=0.0), query_feat=dict(decay_mult=0.0),
                         level_embed=dict(decay_mult=0.0))))
toy_mean = [123.675, 116.28, 103.53]
toy_std = [58.395, 57.12, 57.375]

max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.85)], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='m2f_mm.DataSanityHook')]
randomness = dict(seed=0)
