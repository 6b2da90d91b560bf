"""The architecture registry: built-ins from architectures.yaml, entries added by register()."""

import os
import subprocess
import sys


def test_register_before_any_lookup_keeps_the_builtins():
    # a fresh process: register() is the very first use of the registry
    code = ("from medmap.models import register, registered\n"
            "register('mine', layers='model.layers', embed='model.embed_tokens', final_norm='model.norm',\n"
            "         unembed='lm_head', attention=['self_attn'], mlp=['mlp'])\n"
            "r = registered(); print(sorted(r)); assert 'llama' in r and 'gpt2' in r and 'mine' in r\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr


def test_register_replaces_a_builtin_of_the_same_name(tiny_llama):
    from medmap.models import register, registered, resolve

    original = registered()["llama"]
    try:
        spec = register("llama", layers="model.layers", embed="model.embed_tokens", final_norm="model.norm",
                        unembed="lm_head", attention=["self_attn"], mlp=["mlp"])
        assert registered()["llama"] is spec and "gpt2" in registered()
        assert resolve(tiny_llama.model).spec == spec
    finally:
        register("llama", layers=original.layers, embed=original.embed, final_norm=original.final_norm,
                 unembed=original.unembed, attention=list(original.attention), mlp=list(original.mlp))
