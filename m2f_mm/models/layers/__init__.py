from .ms_deform_attn import MSDeformAttn
from .pointwise_conv import Conv2d
from .positional_encoding import SinePositionalEncoding
from .transformer_layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer

__all__ = ['Conv2d', 'MSDeformAttn', 'SinePositionalEncoding', 'CrossAttentionLayer', 'SelfAttentionLayer',
           'FFNLayer', 'MLP']
