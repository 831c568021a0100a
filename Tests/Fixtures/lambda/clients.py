"""boto3 and the AWS CLI, unmodified, against a local Lambda: prints key=value lines.

usage: clients.py ENDPOINT BOOTSTRAP_ZIP PYTHON_ZIP
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile

import boto3
from botocore.config import Config

endpoint, bootstrap_zip, python_zip = sys.argv[1:4]
os.environ.update(AWS_ACCESS_KEY_ID="anything", AWS_SECRET_ACCESS_KEY="anything", AWS_DEFAULT_REGION="us-east-1")
client = boto3.client("lambda", endpoint_url=endpoint, config=Config(retries={"max_attempts": 0}, read_timeout=60))
role = "arn:aws:iam::123456789012:role/test"


def say(key, value):
    print("%s=%s" % (key, value), flush=True)


with open(bootstrap_zip, "rb") as f:
    swift_code = f.read()
created = client.create_function(FunctionName="boto-add", Runtime="provided.al2023", Role=role, Handler="add",
                                 Code={"ZipFile": swift_code}, Timeout=10, MemorySize=256,
                                 Environment={"Variables": {"MODE": "boto"}})
say("created", created["State"])
client.get_waiter("function_active_v2").wait(FunctionName="boto-add", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
say("active", "yes")
answer = client.invoke(FunctionName="boto-add", Payload=json.dumps([40, 2]), LogType="Tail")
say("invoke", answer["Payload"].read().decode())
say("status", answer["StatusCode"])
say("tail", "START RequestId" in base64.b64decode(answer["LogResult"]).decode())

configuration = client.update_function_configuration(FunctionName="boto-add", Timeout=20, Environment={"Variables": {"MODE": "new"}})
say("updatedTimeout", configuration["Timeout"])
say("variables", json.dumps(client.get_function_configuration(FunctionName="boto-add")["Environment"]["Variables"], sort_keys=True))
updated = client.update_function_code(FunctionName="boto-add", ZipFile=swift_code)
say("codeSha", updated["CodeSha256"] == created["CodeSha256"])
client.get_waiter("function_updated_v2").wait(FunctionName="boto-add", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
say("afterUpdate", client.invoke(FunctionName="boto-add", Payload=b"[1,2]")["Payload"].read().decode())

with open(python_zip, "rb") as f:
    client.create_function(FunctionName="py-calc", Runtime="python3.11", Role=role, Handler="handler.my_calc", Code={"ZipFile": f.read()})
result = json.loads(client.invoke(FunctionName="py-calc", Payload=json.dumps({"a": 2, "b": 3}))["Payload"].read())
say("python", json.dumps(result, sort_keys=True))
with open(python_zip, "rb") as f:
    client.create_function(FunctionName="py-fail", Runtime="python3.11", Role=role, Handler="handler.fail", Code={"ZipFile": f.read()})
failed = client.invoke(FunctionName="py-fail", Payload=b'{"x": 1}')
error = json.loads(failed["Payload"].read())
say("pythonError", "%s|%s|%s" % (failed.get("FunctionError"), error["errorType"], error["errorMessage"]))

# Response streaming, read by boto3's own event-stream parser.
client.create_function(FunctionName="boto-count", Runtime="provided.al2023", Role=role, Handler="countTo", Code={"ZipFile": swift_code})
streamed = client.invoke_with_response_stream(FunctionName="boto-count", Payload=b"[3,0]")
chunks, complete = b"", None
for event in streamed["EventStream"]:
    if "PayloadChunk" in event:
        chunks += event["PayloadChunk"]["Payload"]
    if "InvokeComplete" in event:
        complete = event["InvokeComplete"]
say("streamed", chunks.decode().replace("\n", " ").strip())
say("streamComplete", complete is not None and "ErrorCode" not in complete)
client.create_function(FunctionName="boto-fail", Runtime="provided.al2023", Role=role, Handler="failAfter", Code={"ZipFile": swift_code})
failing = client.invoke_with_response_stream(FunctionName="boto-fail", Payload=b"2")
events = list(failing["EventStream"])
error = [e["InvokeComplete"] for e in events if "InvokeComplete" in e][0]
say("streamError", "%s|%s" % (error.get("ErrorCode", "").split(".")[-1], "stopped after 2" in error.get("ErrorDetails", "")))
client.delete_function(FunctionName="boto-count")
client.delete_function(FunctionName="boto-fail")

names = []
marker = None
while True:
    page = client.list_functions(MaxItems=1, **({"Marker": marker} if marker else {}))
    names += [f["FunctionName"] for f in page["Functions"]]
    marker = page.get("NextMarker")
    if not marker:
        break
say("listed", ",".join(names))

try:
    client.get_function(FunctionName="missing")
except client.exceptions.ResourceNotFoundException as e:
    say("missing", e.response["Error"]["Message"])

# The AWS CLI, as a user types it.
env = dict(os.environ)
cli = [os.path.join(os.path.dirname(sys.executable), "aws"), "lambda", "--endpoint-url", endpoint]
work = os.path.dirname(bootstrap_zip)
out = os.path.join(work, "cli-out.json")
subprocess.run(cli + ["invoke", "--function-name", "boto-add", "--payload", "[5,6]", out], check=True, env=env, stdout=subprocess.DEVNULL)
with open(out) as f:
    say("cli", f.read())
listing = json.loads(subprocess.run(cli + ["list-functions"], check=True, env=env, capture_output=True).stdout)
say("cliListed", len(listing["Functions"]))


def aws(*arguments):
    """An `aws lambda` command's JSON answer; its status and standard error when it fails."""
    run = subprocess.run(cli + list(arguments), env=env, capture_output=True, text=True)
    if run.returncode != 0:
        return {"returncode": run.returncode, "stderr": run.stderr}
    return json.loads(run.stdout) if run.stdout.strip() else {}


# A function's whole life through the CLI: create, update its configuration and code, invoke
# (the README's lines: the payload from a file, read as bytes by CLI v1 and v2 alike), delete.
created = aws("create-function", "--function-name", "cli-add", "--runtime", "provided.al2023", "--handler", "add",
              "--role", role, "--zip-file", "fileb://" + bootstrap_zip, "--timeout", "5")
say("cliCreated", "%s|%s|%s" % (created.get("State"), created.get("Timeout"), created.get("FunctionArn")))
configured = aws("update-function-configuration", "--function-name", "cli-add", "--timeout", "7",
                 "--environment", "Variables={MODE=cli}")
say("cliConfigured", "%s|%s" % (configured.get("Timeout"), json.dumps(configured.get("Environment"), sort_keys=True)))
# New code: the same bootstrap with one more file, so a zip of another CodeSha256.
new_zip = os.path.join(work, "cli-code.zip")
with open(bootstrap_zip, "rb") as source, open(new_zip, "wb") as target:
    target.write(source.read())
with zipfile.ZipFile(new_zip, "a") as archive:
    archive.writestr("NOTES.txt", "revision 2\n")
with open(new_zip, "rb") as f:
    new_sha = base64.b64encode(hashlib.sha256(f.read()).digest()).decode()
updated = aws("update-function-code", "--function-name", "cli-add", "--zip-file", "fileb://" + new_zip)
say("cliCode", "%s|%s|%s" % (updated.get("CodeSha256") == new_sha, updated.get("CodeSha256") != created.get("CodeSha256"),
                             updated.get("Timeout")))
event = os.path.join(work, "event.json")
with open(event, "w") as f:
    f.write("[7,8]\n")  # as `echo` writes it in the README
invoked = aws("invoke", "--function-name", "cli-add", "--payload", "fileb://" + event, out)
with open(out) as f:
    say("cliInvoked", "%s|%s|%s" % (f.read(), invoked.get("StatusCode"), invoked.get("ExecutedVersion")))
tail = subprocess.run(cli + ["invoke", "--function-name", "cli-add", "--payload", "fileb://" + event, "--log-type", "Tail", out,
                             "--query", "LogResult", "--output", "text"], env=env, capture_output=True, text=True, check=True)
log = base64.b64decode(tail.stdout.strip()).decode()
say("cliTail", "START RequestId: " in log and "END RequestId: " in log and "REPORT RequestId: " in log)
say("cliDeleted", "returncode" not in aws("delete-function", "--function-name", "cli-add"))
gone = aws("get-function", "--function-name", "cli-add")
say("cliGone", "%s|%s" % (gone.get("returncode", 0) != 0, "ResourceNotFoundException" in gone.get("stderr", "")))
for name in ["boto-add", "py-calc", "py-fail"]:
    client.delete_function(FunctionName=name)
say("remaining", len(client.list_functions()["Functions"]))
