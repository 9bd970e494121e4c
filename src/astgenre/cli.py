"""The ``astgenre`` command: classify your own music with a model fine-tuned by the study."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import __version__
from .labels import CLASSES
from .publish import add_push_command

EXIT_OK, EXIT_FAILED_FILES, EXIT_USAGE = 0, 1, 2

_PREDICT_EPILOG = """\
exit status:
  0  every file was classified (files too short or silent are flagged in the warning column)
  1  some files could not be decoded (they are listed with their reason; the others were classified)
  2  bad arguments, no audio files found, an --out path that cannot be written, or an unusable model

examples:
  astgenre predict --model results/ismir2004/best_model ~/Music/album song.mp3
  astgenre predict --model results/demo/runs/none/seed0 --out predictions.json --top-k 2 music/
  astgenre predict --model results/ismir2004/best_model --excerpt-start middle --excerpt-duration 30 music/
"""


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _top_k(text: str) -> int:
    value = _int(text)
    if not 1 <= value <= len(CLASSES):
        raise argparse.ArgumentTypeError(f"must be between 1 and {len(CLASSES)} (the number of genres), got {text!r}")
    return value


def _start(text: str) -> float | str:
    if text == "middle":
        return text
    value = _seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be seconds >= 0 or 'middle', got {text!r}")
    return value


def _duration(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be seconds > 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number of seconds: {text!r}")
    return value


def _output(text: str) -> Path:
    from .predict import OUTPUT_SUFFIXES

    path = Path(text)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r} must end in {', '.join(OUTPUT_SUFFIXES)} (the suffix sets the format)"
        )
    return path


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``astgenre`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="astgenre",
        description="Music genre classification with an Audio Spectrogram Transformer fine-tuned on ISMIR2004 "
        f"({', '.join(CLASSES)}).",
        epilog="Run 'astgenre predict --help' or 'astgenre push --help' for the options of a subcommand.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    predict = commands.add_parser(
        "predict",
        help="classify audio files with a trained model",
        description=(
            "Classify audio files with a model trained by the study. Each file is decoded and turned into\n"
            "features exactly as in the study; the model's outputs on all windows of the track (or of the\n"
            "excerpt) are averaged into one set of genre probabilities per file. Prints a table (file, top\n"
            "genres with probabilities) and writes CSV/TSV/JSON with --out. A file that cannot be decoded is\n"
            "listed with its reason; the others go on."
        ),
        epilog=_PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument(
        "inputs",
        nargs="+",
        metavar="FILE_OR_FOLDER",
        type=Path,
        help="audio files, or folders searched recursively for audio files "
        "(.mp3, .wav, .flac, .ogg, .m4a, ... as far as this FFmpeg build decodes them; hidden files are skipped)",
    )
    predict.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="DIR",
        help="the exported best model (results/<study>/best_model), a run directory "
        "(results/<study>/runs/<variant>/seed<N>) or its model/ directory",
    )
    predict.add_argument(
        "--out",
        type=_output,
        metavar="FILE",
        help="also write the predictions (every genre's probability, errors included) to FILE: "
        ".csv, .tsv or .json by suffix",
    )
    predict.add_argument(
        "--top-k",
        type=_top_k,
        default=3,
        metavar="K",
        help="genres shown per file, most probable first (default: %(default)s)",
    )
    predict.add_argument(
        "--batch-size",
        type=_positive_int,
        default=32,
        metavar="N",
        help="windows per model call; windows of several files share a batch (default: %(default)s)",
    )
    predict.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where the model runs; auto: cuda when a GPU is visible, else cpu (default: %(default)s)",
    )
    predict.add_argument(
        "--excerpt-start",
        type=_start,
        default=0.0,
        metavar="SECONDS|middle",
        help="start of the analysed excerpt in seconds, or 'middle' to centre it on the middle of the track "
        "(default: 0, the beginning)",
    )
    predict.add_argument(
        "--excerpt-duration",
        type=_duration,
        default=None,
        metavar="SECONDS",
        help="length of the analysed excerpt in seconds (default: to the end of the track). The ismir2004 study "
        "trains and evaluates on 30 s from the middle of each track: '--excerpt-start middle --excerpt-duration 30'",
    )
    predict.add_argument(
        "--workers",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="processes decoding files while the model runs (default: half the CPU cores when the model runs on "
        "the CPU, which then uses the other half; all cores but one with a GPU; 0: decode in the main process)",
    )
    predict.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: only when stderr is a terminal)",
    )
    predict.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="do not print the table (use with --out); errors are still reported on stderr",
    )
    predict.set_defaults(handler=_predict)
    add_push_command(commands)
    return parser


def format_table(table: pd.DataFrame) -> str:
    """Readable text: one line per file with its top genres and probabilities, or its error."""
    ranks = sorted(int(c.split("_")[1]) for c in table.columns if c.startswith("genre_"))
    header = ["file", *(f"top {r}" for r in ranks)]
    rows = []
    for row in table.to_dict("records"):
        if row["status"] == "ok":
            flag = [f"WARNING: {row['warning']}"] if row.get("warning") else []
            rows.append([row["file"], *(f"{row[f'genre_{r}']} {row[f'prob_{r}']:.2f}" for r in ranks), *flag])
        else:
            rows.append([row["file"], f"ERROR: {row['error']}"])
    width = max(len(header[0]), *(len(r[0]) for r in rows))
    cell = max(
        [len(h) for h in header[1:]] + [len(c) for r in rows if len(r) >= len(header) for c in r[1 : len(header)]]
    )
    lines = []
    for values in [header, *rows]:
        first, rest = values[0], values[1:]
        if len(values) >= len(header):
            rest_text = "  ".join(v.ljust(cell) for v in rest[: len(header) - 1]).rstrip()
            rest_text += "".join(f"  {extra}" for extra in rest[len(header) - 1 :])
        else:
            rest_text = rest[0]
        lines.append(f"{first.ljust(width)}  {rest_text}")
    return "\n".join(lines)


def _predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .predict import ModelError, Predictor, check_output, collect_audio_files, printable, write_predictions

    try:
        if args.out:
            check_output(args.out)  # before any work
        files = collect_audio_files(args.inputs)
        predictor = Predictor(args.model, args.device)
    except (ModelError, ValueError) as error:
        _error(parser, printable(str(error)))
        return EXIT_USAGE
    table = predictor.predict(
        files,
        top_k=args.top_k,
        batch_size=args.batch_size,
        start=args.excerpt_start,
        duration=args.excerpt_duration,
        workers=args.workers,
        progress=args.progress,
    )
    if not args.quiet:
        print(format_table(table), flush=True)
    if args.out:
        info = predictor.info
        write_predictions(
            table,
            args.out,
            metadata={
                "model": str(predictor.model_dir),
                "variant": info.get("variant"),
                "seed": info.get("seed"),
                "labels": list(CLASSES),
                "excerpt": {"start": args.excerpt_start, "duration": args.excerpt_duration},
            },
        )
    failed = table[table["status"] != "ok"]
    flagged = table[(table["status"] == "ok") & (table["warning"] != "")]
    summary = f"{len(table) - len(failed)} of {len(table)} file(s) classified"
    if len(flagged):
        summary += f"; {len(flagged)} flagged (too short or silent, see the warning column):"
        summary += "".join(f"\n  {row.file}: {row.warning}" for row in flagged.itertuples(index=False))
    if len(failed):
        summary += (
            f"\n{len(failed)} could not be decoded:" if len(flagged) else f"; {len(failed)} could not be decoded:"
        )
        summary += "".join(f"\n  {row.file}: {row.error}" for row in failed.itertuples(index=False))
    if args.out:
        summary += f"\npredictions written to {args.out}"
    print(summary, file=sys.stderr)
    return EXIT_FAILED_FILES if len(failed) else EXIT_OK


def _error(parser: argparse.ArgumentParser, message: str) -> None:
    print(f"{parser.prog} predict: error: {message}", file=sys.stderr)


def _quiet_libraries() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``astgenre`` console script; returns the exit status."""
    for stream in (sys.stdout, sys.stderr):  # never fail on a character the terminal cannot show
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.captureWarnings(True)
    _quiet_libraries()
    try:
        return args.handler(args, parser)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
