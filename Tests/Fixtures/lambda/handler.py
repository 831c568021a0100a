"""A Python Lambda handler the local Lambda runs through AWS's awslambdaric."""


def my_calc(event, context):
    print("calculating", event)
    return {"sum": event["a"] + event["b"], "function": context.function_name,
            "time_left": context.get_remaining_time_in_millis() > 0}


def fail(event, context):
    raise ValueError("cannot work with %r" % (event,))
