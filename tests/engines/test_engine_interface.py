"""The Engine interface and vLLM's command line, without starting an engine (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heavylift.engines.base import EngineCapabilities
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.llama_server import LlamaServer, LlamaServerConfig
from heavylift.engines.remote import VLLM_CAPABILITIES, RemoteEngine
from heavylift.engines.vllm_args import VllmArgs, kv_cache_dtype
from heavylift.engines.vllm_server import VllmServer, VllmServerConfig
from heavylift.errors import UsageError

FIXTURE = Path(__file__).parent / "fixtures" / "vllm_0.32.0_options.json"


def test_engines_say_what_they_are_and_can_do(tmp_path):
    llama = LlamaServer(LlamaServerConfig(Path("/bin/llama-server"), LlamaArgs(
        str(tmp_path / "m.gguf"), alias="m", slot_save_path=tmp_path / "slots", port=8081)))
    assert (llama.model_path, llama.slot_save_path, llama.served_model) == (tmp_path / "m.gguf", tmp_path / "slots", "m")
    assert llama.pid is None and llama.capabilities.slots and llama.capabilities.kv_save
    assert llama.client.dialect == "llama-server"
    vllm = VllmServer(VllmServerConfig(Path("/venv/bin/python"), VllmArgs(str(tmp_path / "hf"), served_model_name="m")))
    caps = vllm.capabilities
    assert (caps.dialect, caps.slots, caps.kv_save, caps.prefix_caching, caps.tokenize) == ("vllm", False, False, True, True)
    assert vllm.model_path == tmp_path / "hf" and vllm.slot_save_path is None and vllm.served_model == "m"
    assert vllm.client.dialect == "vllm"
    remote = RemoteEngine("http://127.0.0.1:9/v1")
    assert remote.model_path is None and remote.pid is None and remote.capabilities == EngineCapabilities()
    remote.set_capabilities(VLLM_CAPABILITIES)
    assert remote.client.dialect == "vllm"


def test_fallbacks_are_said_for_what_is_missing():
    assert EngineCapabilities(dialect="llama-server", slots=True, kv_save=True, tokenize=True).fallbacks() == []
    words = " ".join(VLLM_CAPABILITIES.fallbacks())
    assert "no slot pinning" in words and "automatic prefix caching" in words and "no KV save/restore" in words
    assert "tokenizer" not in words  # vLLM has /tokenize
    assert "prompt sizes are not checked" in " ".join(EngineCapabilities().fallbacks())
    with pytest.raises(ValueError):
        EngineCapabilities(dialect="tgi")


def test_vllm_secret_goes_to_the_environment_not_argv(tmp_path):
    server = VllmServer(VllmServerConfig(Path("/venv/bin/python"), VllmArgs("/m", port=8001), api_key="s3cret-key",
                                         env={"VLLM_CPU_KVCACHE_SPACE": "1"}))
    assert "s3cret-key" not in " ".join(server.command)
    env = server.env
    assert env["VLLM_API_KEY"] == "s3cret-key" and env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert env["HF_HUB_OFFLINE"] == "1"  # local weights: never reach for the hub


def test_vllm_command_line_uses_only_options_vllm_has():
    """Against the option list recorded from vLLM's own parser (re-checked live under -m vllm)."""
    options = json.loads(FIXTURE.read_text())["options"]
    args = VllmArgs("/m", served_model_name="m", host="127.0.0.1", port=8000, tensor_parallel_size=2,
                    pipeline_parallel_size=2, max_model_len=4096, max_num_seqs=2, max_num_batched_tokens=4096,
                    gpu_memory_utilization=0.5, kv_cache_dtype="fp8", dtype="bfloat16", seed=0,
                    distributed_executor_backend="ray", is_prefix_caching=False, is_chunked_prefill=True)
    argv = args.module_argv("python")
    assert argv[:5] == ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "/m"]
    i = 3
    while i < len(argv):
        flag = argv[i]
        assert flag in options, flag
        takes_value, choices = options[flag]
        if takes_value:
            value = argv[i + 1]
            assert choices is None or value in choices, (flag, value)
            i += 2
        else:
            i += 1
    assert "--no-enable-prefix-caching" in argv and "--enable-chunked-prefill" in argv
    assert args.serve_argv()[:3] == ["vllm", "serve", "/m"]


def test_users_vllm_flags_win():
    args = VllmArgs("/m", max_model_len=4096, gpu_memory_utilization=0.5,
                    extra_args=["--max-model-len", "1024", "--no-enable-prefix-caching", "--gpu_memory_utilization=0.7"])
    flags = args.flags()
    assert flags.count("--max-model-len") == 1
    assert "4096" not in flags and "0.5" not in flags and "--enable-prefix-caching" not in flags
    assert flags[-4:] == ["--max-model-len", "1024", "--no-enable-prefix-caching", "--gpu_memory_utilization=0.7"]


def test_kv_types_map_to_vllms():
    assert kv_cache_dtype("f16") == "auto" and kv_cache_dtype("q8_0") == "fp8"
    with pytest.raises(UsageError, match="no KV cache type like llama.cpp's q4_0"):
        kv_cache_dtype("q4_0")


def test_llama_args_carry_rpc_workers():
    args = LlamaArgs("/m.gguf", rpc_servers=["10.0.0.2:50052", "10.0.0.3:50052"], n_gpu_layers=21,
                     tensor_split=["13", "8"])
    argv = args.argv()
    assert argv[argv.index("--rpc") + 1] == "10.0.0.2:50052,10.0.0.3:50052"
    parsed, other = LlamaArgs.parse(argv[1:])
    assert parsed.rpc_servers == ["10.0.0.2:50052", "10.0.0.3:50052"] and not other
    # the user's own --rpc wins over ours
    mine = LlamaArgs("/m.gguf", rpc_servers=["10.0.0.2:50052"], extra_args=["--rpc", "10.9.9.9:1"]).argv()
    assert mine.count("--rpc") == 1 and mine[-1] == "10.9.9.9:1"


def test_vllm_model_checks_before_launch(tmp_path):
    from heavylift.engines import vllm_model as vm

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"],
                                                    "max_position_embeddings": 8192}))
    (folder / "model.safetensors").write_bytes(b"\0" * 4096)
    hf = vm.resolve_hf(str(folder))
    assert (hf.name, hf.weights_bytes, hf.architectures) == ("m", 4096, ["LlamaForCausalLM"])
    vm.check_supported(hf, {"LlamaForCausalLM"})
    with pytest.raises(UsageError, match="vLLM does not support LlamaForCausalLM"):
        vm.check_supported(hf, {"MixtralForCausalLM"})
    vm.check_fits_cpu(hf, 1, 2 << 30)
    with pytest.raises(UsageError, match="needs 1.0 GiB on vLLM's CPU build"):
        vm.check_fits_cpu(hf, 1, 512 << 20)
    big = vm.HfModel(folder, "big", ["X"], 200 << 30, None)
    with pytest.raises(UsageError, match="do not fit vLLM's way"):
        vm.check_fits_gpus(big, [80 << 30, 80 << 30], 0.9)
    vm.check_fits_gpus(big, [80 << 30] * 4, 0.9)


def test_vllm_wants_an_export_of_a_gguf(installed):
    from heavylift.engines.vllm_model import resolve_hf

    with pytest.raises(UsageError, match="run `heavylift models export-hf default` first"):
        resolve_hf("default", _EmptyExports())


class _EmptyExports:
    """A ModelStore stand-in whose model has no export yet (the shared cache may hold one)."""

    def resolve(self, name):
        from heavylift.models.model_store import ModelStore

        stored = ModelStore().resolve(name)
        stored.name = f"not-exported-{id(self)}"
        return stored
