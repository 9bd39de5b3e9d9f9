# Mask2Former head settings shared by every R50 config (paper / reference defaults).
# Task configs reference these as {{_base_.m2f_*}} and add the host-specific keys.
m2f_pixel_decoder = dict(
    type='m2f_mm.MSDeformAttnPixelDecoder',
    num_encoder_levels=3, num_layers=6, num_heads=8, num_points=4, ffn_channels=1024,
    num_groups=32)
m2f_transformer_decoder = dict(num_heads=8, ffn_channels=2048, num_layers=9,
                               num_feature_levels=3)
m2f_criterion = dict(
    type='m2f_mm.Mask2FormerCriterion',
    class_weight=2.0, mask_weight=5.0, dice_weight=5.0, no_object_weight=0.1,
    num_points=12544, oversample_ratio=3.0, importance_sample_ratio=0.75,
    point_sampled=True,
    matcher=dict(type='m2f_mm.HungarianMatcher', cost_class=2.0, cost_mask=5.0,
                 cost_dice=5.0, num_points=12544))
