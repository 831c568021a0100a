"""A Python Lambda handler the local Lambda runs through AWS's awslambdaric."""
import os
import tempfile
import time


def my_calc(event, context):
    print("calculating", event)
    return {"sum": event["a"] + event["b"], "function": context.function_name,
            "time_left": context.get_remaining_time_in_millis() > 0}


def fail(event, context):
    raise ValueError("cannot work with %r" % (event,))


def environment(event, context):
    """The environment variables the event names, as the function's process has them."""
    return {name: os.environ.get(name) for name in event}


def keep(event, context):
    """Counts this environment's calls in a file in its /tmp, then sleeps as long as asked."""
    path = os.path.join(tempfile.gettempdir(), "calls")
    with open(path, "a") as f:
        f.write(".")
    with open(path) as f:
        calls = len(f.read())
    time.sleep(event.get("sleep", 0))
    return {"calls": calls, "pid": os.getpid(), "tmp": tempfile.gettempdir()}
