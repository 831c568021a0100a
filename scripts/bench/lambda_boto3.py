"""Warm invokes of a local Lambda function through boto3: prints 'P50 ms / P99 ms'.

usage: lambda_boto3.py ENDPOINT FUNCTION CALLS
"""
import os
import sys
import time

import boto3
from botocore.config import Config

endpoint, name, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
client = boto3.client("lambda", endpoint_url=endpoint, config=Config(retries={"max_attempts": 0}))
for _ in range(100):
    client.invoke(FunctionName=name, Payload=b"[1,2]")["Payload"].read()
times = []
for _ in range(calls):
    start = time.perf_counter()
    client.invoke(FunctionName=name, Payload=b"[1,2]")["Payload"].read()
    times.append(time.perf_counter() - start)
times.sort()
print("%.3f ms / %.3f ms" % (times[len(times) // 2] * 1000, times[len(times) * 99 // 100] * 1000))
