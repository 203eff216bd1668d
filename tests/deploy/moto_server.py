"""moto's server, with two fixes for `aws cloudformation deploy`.

moto 5.2.1 builds a stack's outputs when the stack object is created. A stack created by a
change set (what `aws cloudformation deploy` does) starts with an empty template, and the
outputs are never rebuilt when the change set is executed, so describe-stacks reports none.
Real CloudFormation reports them. This rebuilds the outputs after each execution.

`make deploy` hands CloudFormation its template through S3 (it is over the 51,200 bytes a
request may carry), and the AWS CLI names it with a path-style URL on the endpoint it was
given, here http://127.0.0.1:PORT/BUCKET/KEY. moto reads the bucket from the path only when
the host is "localhost", and otherwise takes "127" for the bucket. This reads such a URL as
moto reads a localhost one.

Nothing else is changed.
"""

import sys
from urllib.parse import urlparse

import moto.cloudformation.models as cloudformation_models
import moto.cloudformation.responses as cloudformation_responses
from moto.cloudformation.models import CloudFormationBackend
from moto.server import main

_execute = CloudFormationBackend.execute_change_set


def execute_change_set(self, change_set_name, stack_name=None):
    _execute(self, change_set_name, stack_name)
    for stack in self.stacks.values():
        if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE") and stack.template:
            stack._parse_template()
            stack.output_map = stack._create_output_map()


CloudFormationBackend.execute_change_set = execute_change_set

_get_stack_from_s3_url = cloudformation_responses.get_stack_from_s3_url


def get_stack_from_s3_url(template_url, *args, **kwargs):
    url = urlparse(template_url)
    if url.hostname == "127.0.0.1":
        template_url = url._replace(netloc=f"localhost:{url.port}").geturl()
    return _get_stack_from_s3_url(template_url, *args, **kwargs)


cloudformation_responses.get_stack_from_s3_url = get_stack_from_s3_url
cloudformation_models.get_stack_from_s3_url = get_stack_from_s3_url

if __name__ == "__main__":
    sys.exit(main())
