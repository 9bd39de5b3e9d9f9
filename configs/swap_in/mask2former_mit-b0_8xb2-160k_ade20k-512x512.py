# Swap-in: m2f_mm's head on SegFormer's MiT-B0 backbone (mmseg's MixVisionTransformer),
# ADE20K semantic, 160k iters. Not a reference model: no published result to compare with.
# Our R50 config (mmseg's EncoderDecoder, data, schedule, the Mask2Former optimiser) with
# the backbone of mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py; its
# ImageNet mean/std and RGB order are the R50's, so the data preprocessor carries over.
_base_ = ['../mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py']
model = dict(
    backbone=dict(
        _delete_=True,  # the R50's ResNet keys (depth, norm_cfg, ...) mean nothing to MiT
        type='MixVisionTransformer', in_channels=3, embed_dims=32, num_stages=4,
        num_layers=[2, 2, 2, 2], num_heads=[1, 2, 5, 8], patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1], out_indices=(0, 1, 2, 3), mlp_ratio=4, qkv_bias=True,
        drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth')),  # noqa: E501
    decode_head=dict(in_channels=_base_.backbone_channels.mit_b0))
# The Mask2Former optimiser carries over (AdamW 1e-4, weight decay 0.05, clip 0.01, backbone
# lr x0.1, no decay on norms and the query/level embeddings), not SegFormer's (AdamW 6e-5,
# weight decay 0.01, custom keys 'pos_block' (no such module in mmseg's MiT), 'norm' and
# 'head' lr x10, which would match our whole 'decode_head'). The R50 config's keys name no
# ResNet module, but its 'backbone' key (decay x1) is the longest key matching MiT's
# LayerNorms: mmengine applies only the longest matching custom key, so norm_decay_mult=0
# never reaches them. These longer keys give every MiT LayerNorm the backbone's lr and no
# weight decay: a stage's patch-embedding norm (layers.i.0.norm), each block's norm1/norm2
# and its spatial-reduction norm (attn.norm, stages with sr_ratio > 1), and the stage's
# output norm (layers.i.2).
_mit_norm = dict(lr_mult=0.1, decay_mult=0.0)
_mit_num_layers, _mit_sr_ratios = [2, 2, 2, 2], [8, 4, 2, 1]
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    **{f'backbone.layers.{i}.0.norm': _mit_norm for i in range(4)},
    **{f'backbone.layers.{i}.2.': _mit_norm for i in range(4)},
    **{f'backbone.layers.{i}.1.{j}.norm': _mit_norm
       for i in range(4) for j in range(_mit_num_layers[i])},
    **{f'backbone.layers.{i}.1.{j}.attn.norm': _mit_norm
       for i in range(4) if _mit_sr_ratios[i] > 1 for j in range(_mit_num_layers[i])},
}))
