from .ms_deform_attn import MSDeformAttn, multi_scale_deformable_attention
from .positional_encoding import SinePositionalEncoding

__all__ = ['MSDeformAttn', 'multi_scale_deformable_attention', 'SinePositionalEncoding']
