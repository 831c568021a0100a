"""boto3 and the AWS CLI, unmodified, against a local Lambda: prints key=value lines.

usage: clients.py ENDPOINT BOOTSTRAP_ZIP PYTHON_ZIP
"""
import base64
import json
import os
import subprocess
import sys

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
out = os.path.join(os.path.dirname(bootstrap_zip), "cli-out.json")
subprocess.run(cli + ["invoke", "--function-name", "boto-add", "--payload", "[5,6]", out], check=True, env=env, stdout=subprocess.DEVNULL)
with open(out) as f:
    say("cli", f.read())
listing = json.loads(subprocess.run(cli + ["list-functions"], check=True, env=env, capture_output=True).stdout)
say("cliListed", len(listing["Functions"]))
for name in ["boto-add", "py-calc", "py-fail"]:
    client.delete_function(FunctionName=name)
say("remaining", len(client.list_functions()["Functions"]))
