"""Publishing a model to the Hugging Face Hub: ``astgenre push MODEL --repo-id user/name``.

The folder is checked before anything leaves the machine: weights that load strictly, config.json,
preprocessor_config.json describing the features the model was trained on, astgenre.json, and a model card whose
metadata the Hub reads. The upload is one commit of exactly those files (plus best_run.json of an exported model).
Heavy imports (torch, transformers, huggingface_hub) happen inside the functions: the command line starts fast.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_UPLOAD_FAILED, EXIT_USAGE = 0, 1, 2

_PUSH_EPILOG = """\
exit status:
  0  uploaded (with --dry-run: the folder can be uploaded)
  1  the Hub refused the upload or could not be reached (the folder is fine: try again)
  2  bad arguments, a folder that is not a complete model, or no Hugging Face token

The token comes from `hf auth login` or the HF_TOKEN environment variable and needs write access.

examples:
  astgenre push results/ismir2004/best_model --repo-id your-name/ast-ismir2004-genre --dry-run
  astgenre push results/ismir2004/best_model --repo-id your-name/ast-ismir2004-genre
  astgenre push results/ismir2004/runs/none/seed0 --repo-id your-name/ast-ismir2004-none-seed0 --private
"""


class PushError(Exception):
    """The model cannot be pushed; ``exit_code`` is the command's exit status."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class UploadFile:
    """One file of the upload: its path in the Hub repository and on this machine."""

    path_in_repo: str
    local_path: Path


def model_files() -> tuple[str, ...]:
    """The files of a model folder that are uploaded, all required."""
    from transformers.utils import CONFIG_NAME, SAFE_WEIGHTS_NAME

    from .contracts import PREPROCESSOR_CONFIG, RUN_INFO

    return (SAFE_WEIGHTS_NAME, CONFIG_NAME, PREPROCESSOR_CONFIG, RUN_INFO)


def upload_files(model: Path | str) -> list[UploadFile]:
    """What ``push`` uploads for ``model``: an exported best_model, a run directory or its model/ folder.

    The model folder's weights, config.json, preprocessor_config.json and astgenre.json (best_run.json too when
    there is one), and its card: README.md in the folder (an export) or in the run directory beside model/.
    Checks that everything is there and usable; raises PushError (exit 2) saying what is missing or wrong.
    """
    from .contracts import CARD
    from .export import BEST_RUN
    from .model import feature_extractor_problems, load_classifier
    from .model_card import card_problems
    from .predict import ModelError, resolve_model_dir

    try:
        model_dir = resolve_model_dir(model)
    except ModelError as error:
        raise PushError(str(error)) from None
    names = model_files()
    missing = [name for name in names if not (model_dir / name).is_file()]
    if missing:
        raise PushError(
            f"{model_dir} lacks {', '.join(missing)}: not a complete model folder; export or retrain it with this "
            "version of the workflow"
        )
    card = _card_path(model_dir, CARD)
    problems = card_problems(card.read_text())
    if problems:
        raise PushError(f"{card}: {'; '.join(problems)}; rewrite it with the workflow (snakemake) before pushing")
    problems = feature_extractor_problems(model_dir)
    if problems:
        raise PushError("; ".join(problems))
    try:
        load_classifier(model_dir)
    except (OSError, ValueError) as error:  # CheckpointMismatch is a ValueError
        raise PushError(f"cannot load the model in {model_dir}: {error}") from error
    files = [UploadFile(name, model_dir / name) for name in names]
    if (model_dir / BEST_RUN).is_file():
        files.append(UploadFile(BEST_RUN, model_dir / BEST_RUN))
    return [*files, UploadFile(CARD, card)]


def _card_path(model_dir: Path, name: str) -> Path:
    for candidate in (model_dir / name, model_dir.parent / name):
        if candidate.is_file():
            return candidate
    raise PushError(
        f"no model card: neither {model_dir / name} (an exported model's) nor {model_dir.parent / name} (a run's) "
        "exists; run the workflow (snakemake) to write it"
    )


def push_model(
    model: Path | str,
    repo_id: str,
    *,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
) -> str:
    """Check the model (:func:`upload_files`), create the Hub repository if needed and upload the files in one
    commit; return the commit's URL.

    token: a Hugging Face token with write access (default: ``hf auth login``'s or HF_TOKEN). Raises PushError:
    exit 2 for a bad repo id, folder or missing token (nothing is sent), exit 1 when the Hub fails.
    """
    import huggingface_hub
    import huggingface_hub.errors

    check_repo_id(repo_id)
    files = upload_files(model)
    token = token or huggingface_hub.get_token()
    if not token:
        raise PushError(
            "no Hugging Face token: log in with `hf auth login` or set HF_TOKEN to a token with write access"
        )
    # HTTP errors of the Hub are OSErrors; transport errors come from its HTTP library (httpx or httpx2 by version)
    transport_errors = getattr(huggingface_hub.errors, "HTTPError", OSError)
    api = huggingface_hub.HfApi(token=token)
    operations = [
        huggingface_hub.CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.local_path))
        for f in files
    ]
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.create_commit(
            repo_id,
            operations=operations,
            commit_message=commit_message or f"Upload {Path(model).name} with astgenre push",
            repo_type="model",
        )
    except (OSError, transport_errors) as error:
        raise PushError(f"uploading to {repo_id} failed: {error}", EXIT_UPLOAD_FAILED) from error
    return str(commit.commit_url)


def check_repo_id(repo_id: str) -> None:
    """Raise PushError (exit 2) unless repo_id is a valid Hub repository id."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PushError(f"--repo-id {repo_id!r} is not a Hub repository id (user/name): {error}") from None


# --------------------------------------------------------------------------- the command


def add_push_command(commands: argparse._SubParsersAction) -> None:
    """Add ``astgenre push`` to the command's subparsers."""
    push = commands.add_parser(
        "push",
        help="publish a trained model with its model card to the Hugging Face Hub",
        description=(
            "Upload a model trained by the study to a Hugging Face Hub model repository (created if needed), in\n"
            "one commit: weights, config.json, preprocessor_config.json (so that transformers' pipeline and\n"
            "Auto classes load it), astgenre.json (so that astgenre predict does) and the model card README.md.\n"
            "The folder is checked first; --dry-run stops there and lists what would be uploaded."
        ),
        epilog=_PUSH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    push.add_argument(
        "model",
        type=Path,
        metavar="MODEL",
        help="the exported best model (results/<study>/best_model), a run directory "
        "(results/<study>/runs/<variant>/seed<N>) or its model/ directory",
    )
    push.add_argument("--repo-id", required=True, metavar="USER/NAME", help="the Hub model repository")
    push.add_argument("--private", action="store_true", help="create the repository as private (if it is new)")
    push.add_argument("--commit-message", metavar="TEXT", help="the commit message (default: names the folder)")
    push.add_argument(
        "--dry-run", action="store_true", help="check the folder and list the files; upload nothing (no token needed)"
    )
    push.set_defaults(handler=run_push)


def run_push(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The ``push`` subcommand; returns the exit status."""
    try:
        if args.dry_run:
            check_repo_id(args.repo_id)
            files = upload_files(args.model)
            for f in files:
                print(f"{f.path_in_repo:<26} {f.local_path.stat().st_size:>12,} bytes  {f.local_path}")
            print(f"{len(files)} file(s) would be uploaded to {args.repo_id}; nothing uploaded (--dry-run)")
            return EXIT_OK
        url = push_model(args.model, args.repo_id, private=args.private, commit_message=args.commit_message)
    except PushError as error:
        print(f"{parser.prog} push: error: {error}", file=sys.stderr)
        return error.exit_code
    print(f"uploaded {args.model} to https://huggingface.co/{args.repo_id} ({url})")
    return EXIT_OK
