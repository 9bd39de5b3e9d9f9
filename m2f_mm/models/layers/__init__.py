from .ms_deform_attn import MSDeformAttn
from .positional_encoding import SinePositionalEncoding
from .transformer_layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer

__all__ = ['MSDeformAttn', 'SinePositionalEncoding', 'CrossAttentionLayer', 'SelfAttentionLayer',
           'FFNLayer', 'MLP']
