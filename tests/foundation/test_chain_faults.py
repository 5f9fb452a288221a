

# --- the data directory's node belongs to one process -------------------------------------


def test_a_command_never_starts_a_second_node_where_a_running_process_owns_one(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    settings = make_settings(anvil_port=free_port())
    serving = start_runtime(settings)  # as `hallmark serve`: it runs the data directory's node
    assert serving.supervisor is not None
    node = serving.supervisor.node
    assert node.pid is not None
    state_before = node.state_path.stat().st_mtime_ns
    os.kill(node.pid, signal.SIGSTOP)  # the node hangs: it takes connections, answers nothing
    try:
        command = Runtime(settings)  # an admin command meanwhile
        with pytest.raises(ChainUnavailableError, match=r"belongs to a running Hallmark process"):
            command.start()
        assert command.supervisor is None
    finally:
        os.kill(node.pid, signal.SIGCONT)
    assert node.is_running()
    assert node.state_path.stat().st_mtime_ns >= state_before
    # Once it answers again, commands share it.
    shared = start_runtime(settings)
    assert shared.supervisor is None
    assert shared.chain is not None and shared.chain.url == node.url
