"""The baseline Hallmark's batches are measured against: one `anchor` transaction per record.

Starts Hallmark's runtime on a fresh data directory (its local anvil on HALLMARK_ANVIL_PORT when
set, on a free port otherwise; automining: each transaction is mined when it arrives), creates
one factory organisation, and anchors --records records one transaction each
(`anchor(recordHash, kind, 1)`, explicit gas and nonce), keeping at most --window transactions
sent and not yet mined. With `--signing local` each transaction is signed in the timed loop with
the organisation's key (eth-account over libsecp256k1, as the worker signs); with
`--signing node` the node sends it for the impersonated account (anvil_impersonateAccount,
eth_sendTransaction): no signature anywhere, the node's own cost only. The clock runs from the
first transaction built to the last receipt seen. A reverted transaction, a rejected one or a
record not mined within --timeout is a failure (exit status 1).

    python -m bench.one_tx_per_record --records 5000 --window 64 --signing local
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from bench.results import Result, add_output_argument, run_main
from bench.runtime import start_runtime
from hallmark.chain.client import Fees
from hallmark.chain.ledger import Ledger
from hallmark.services.access.organisations import create_organisation, organisation_account
from hallmark.store.records import RECORD_KINDS


def _send(
    ledger: Ledger,
    account: LocalAccount,
    *,
    signing: str,
    root: str,
    nonce: int,
    fees: Fees,
    chain_id: int,
    gas: int,
) -> str:
    """Send `anchor(root, production step, 1)`; its transaction hash."""
    kind = RECORD_KINDS["production_step"]
    if signing == "local":
        signed = ledger.build_anchor(
            account,
            root=root,
            kind=kind,
            count=1,
            nonce=nonce,
            fees=fees,
            chain_id=chain_id,
            gas=gas,
        )
        return ledger.client.send_raw_transaction(signed.raw_tx)
    data = ledger.contract.encode_abi("anchor", args=[bytes.fromhex(root[2:]), kind, 1])
    tx = {
        "from": account.address,
        "to": ledger.address,
        "data": data,
        "gas": hex(gas),
        "nonce": hex(nonce),
    }
    return str(ledger.client.retrieve("eth_sendTransaction", [tx]))


def measure(args: argparse.Namespace, result: Result) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hallmark-bench-")) / "data"
    runtime = start_runtime(data_dir, None)
    settings = runtime.settings
    try:
        assert runtime.sessions is not None and runtime.deployment is not None
        organisation = create_organisation(
            sessions=runtime.sessions, chain=runtime.chain_access(), name="One tx", kind="factory"
        )
        account = organisation_account(organisation, settings.passphrase)
        ledger = runtime.ledger
        client = ledger.client
        if args.signing == "node":
            client.retrieve("anvil_impersonateAccount", [account.address])
        roots = [
            Web3.keccak(text=f"record {i} {time.time_ns()}").to_0x_hex()
            for i in range(args.records)
        ]
        start_nonce = client.retrieve_nonce(account.address)
        in_flight: dict[str, int] = {}
        gas_used: list[int] = []
        sent = 0
        started = time.perf_counter()
        deadline = time.monotonic() + args.timeout
        fees = client.retrieve_fees()  # as the worker does: once per cycle, not per record
        while (sent < args.records or in_flight) and time.monotonic() < deadline:
            while sent < args.records and len(in_flight) < args.window:
                try:
                    tx_hash = _send(
                        ledger,
                        account,
                        signing=args.signing,
                        root=roots[sent],
                        nonce=start_nonce + sent,
                        fees=fees,
                        chain_id=runtime.deployment.chain_id,
                        gas=settings.anchor_gas_limit,
                    )
                except Exception as exc:  # a rejected transaction is a failure, then stop
                    result.fail(f"transaction {sent} rejected: {exc}")
                    deadline = 0.0
                    break
                in_flight[tx_hash] = sent
                sent += 1
            receipts = client.retrieve_receipts(list(in_flight)) if in_flight else {}
            for tx_hash, receipt in receipts.items():
                if receipt is None:
                    continue
                del in_flight[tx_hash]
                if receipt.status != 1:
                    result.fail(f"transaction {tx_hash} reverted")
                else:
                    gas_used.append(receipt.gas_used)
            if in_flight and not any(receipts.values()):
                time.sleep(0.001)
        elapsed = time.perf_counter() - started
        result.check(
            len(gas_used) == args.records,
            f"{args.records - len(gas_used)} of {args.records} records not anchored "
            f"within {args.timeout:.0f} s",
        )
        result.figures.update(
            {
                "records": args.records,
                "anchored": len(gas_used),
                "seconds": elapsed,
                "transactions_per_second": len(gas_used) / elapsed,
                "gas_per_record": statistics.mean(gas_used) if gas_used else None,
                "blocks": client.retrieve_block_number(),
            }
        )
        print(
            f"one transaction per record: {len(gas_used)} of {args.records} anchored in "
            f"{elapsed:.2f} s, window {args.window}, signing {args.signing}: "
            f"{len(gas_used) / elapsed:,.1f} tx/s, "
            f"{result.figures['gas_per_record'] or 0:,.0f} gas per record"
        )
    finally:
        runtime.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=5000, help="records, one tx each")
    parser.add_argument("--window", type=int, default=64, help="most transactions in flight")
    parser.add_argument(
        "--signing",
        choices=("local", "node"),
        default="local",
        help="local: signed here, in the timed loop; node: sent unsigned for an impersonated "
        "account",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for all to mine")
    add_output_argument(parser)
    return parser.parse_args(argv)


def new_result(args: argparse.Namespace) -> Result:
    return Result(
        benchmark="one_tx_per_record",
        kind="one_tx_per_record",
        settings={"records": args.records, "window": args.window, "signing": args.signing},
    )


if __name__ == "__main__":
    run_main(new_result, measure, parse_args())
