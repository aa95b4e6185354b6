"""AWS ECR, `ecr`: region and account from the AWS CLI, its login token, and the repository created
when missing."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from tools.publish.commands import Cmd, PublishError
from tools.publish.engines import Engine
from tools.publish.failures import classify, not_logged_in
from tools.publish.runner import Runner
from tools.publish.target import Target, validate_host_override

AWS_ACCOUNT_RE = re.compile(r"[0-9]{12}")
AWS_REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")
# A dry run does not ask AWS: the printed commands read the account into this shell variable.
ACCOUNT_PLACEHOLDER = "${AWS_ACCOUNT_ID}"
LOGIN_HINT = "check your AWS credentials and the ecr:GetAuthorizationToken permission"


def ecr_host(account: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


def check_repository(path: str) -> None:
    if not 2 <= len(path) <= 256:
        raise PublishError(f"invalid repository name {path!r}: ECR needs 2-256 characters")


@dataclasses.dataclass
class Ecr:
    runner: Runner
    environ: Mapping[str, str]
    region_option: str | None
    account_option: str | None
    host_option: str | None
    test_endpoint: bool
    region: str = ""

    def host_override(self) -> str | None:
        host = self.host_option or self.environ.get("ECR_REGISTRY_HOST")
        if not host:
            return None
        option = "--ecr-host" if self.host_option else "ECR_REGISTRY_HOST"
        # The AWS CLI pointed at a stand-in API (moto, LocalStack) is a test setup by definition.
        test_endpoint = self.test_endpoint or bool(self.environ.get("AWS_ENDPOINT_URL"))
        return validate_host_override(host, kind="ecr", option=option, test_endpoint=test_endpoint)

    def aws(self, *args: str) -> Cmd:
        region = ("--region", self.region) if self.region else ()
        return Cmd(("aws", *args, *region))

    def resolve(self, target: Target) -> Target:
        """The target with its host: the override, else ACCOUNT.dkr.ecr.REGION.amazonaws.com."""
        self.region = (
            self.region_option
            or self.environ.get("AWS_REGION")
            or self.environ.get("AWS_DEFAULT_REGION")
            or self.configured_region()
        )
        if not self.region:
            raise PublishError(
                "no AWS region: pass --aws-region, set AWS_REGION, or run `aws configure set region REGION`"
            )
        if not AWS_REGION_RE.fullmatch(self.region):
            raise PublishError(f"invalid AWS region {self.region!r}")
        host = self.host_override()
        if not host:
            account = self.account_option or self.environ.get("AWS_ACCOUNT_ID") or self.caller_account()
            if not (AWS_ACCOUNT_RE.fullmatch(account) or account == ACCOUNT_PLACEHOLDER):
                raise PublishError(f"invalid AWS account id {account!r}: expected 12 digits")
            host = ecr_host(account, self.region)
        return dataclasses.replace(target, host=host)

    def configured_region(self) -> str:
        # A local file read (no network), so it also runs under --dry-run.
        answer = self.runner.look_up(Cmd(("aws", "configure", "get", "region")))
        return answer.stdout.strip() if answer.ok else ""

    def caller_account(self) -> str:
        query = Cmd(
            ("aws", "sts", "get-caller-identity", "--query", "Account", "--output", "text"),
            output_var=ACCOUNT_PLACEHOLDER.strip("${}"),
        )
        result = self.runner.run(query)
        if failure := classify(result):
            if failure.no_aws_credentials or failure.unauthorized:
                raise not_logged_in("AWS", failure.detail, LOGIN_HINT)
            raise PublishError(f"cannot find the AWS account id: {failure.detail} (or pass --aws-account)")
        return result.stdout.strip()

    def login(self, engine: Engine, target: Target, *, insecure: bool) -> Cmd:
        token = self.aws("ecr", "get-login-password")
        return engine.login(target.host, "AWS", insecure=insecure, stdin_cmd=token)

    def ensure_repository(self, repo_path: str) -> None:
        describe = self.aws("ecr", "describe-repositories", "--repository-names", repo_path)
        create = self.aws(
            "ecr",
            "create-repository",
            "--repository-name",
            repo_path,
            "--image-scanning-configuration",
            "scanOnPush=true",
        )
        self.runner.explain("create the repository only when describe-repositories says it is missing:")
        found, made = self.runner.create_unless(
            describe,
            create,
            create_when=lambda answer: bool((f := classify(answer)) and f.no_ecr_repository),
            announce=f"creating ECR repository {repo_path}",
        )
        if made is None:
            if failure := classify(found):
                if failure.unauthorized or failure.no_aws_credentials:
                    raise not_logged_in("AWS", failure.detail, LOGIN_HINT)
                raise PublishError(f"aws ecr describe-repositories failed: {failure.detail}")
            self.runner.log(f"ECR repository {repo_path} exists")
        elif failure := classify(made):
            if failure.invalid_name:
                raise PublishError(f"invalid repository name {repo_path!r}: {failure.detail}")
            raise PublishError(f"registry refused to create repository {repo_path}: {failure.detail}")
