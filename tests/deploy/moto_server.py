"""moto's server, with one fix for `aws cloudformation deploy`.

moto 5.2.1 builds a stack's outputs when the stack object is created. A stack created by a
change set (what `aws cloudformation deploy` does) starts with an empty template, and the
outputs are never rebuilt when the change set is executed, so describe-stacks reports none.
Real CloudFormation reports them. This rebuilds the outputs after each execution and
changes nothing else.
"""

import sys

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

if __name__ == "__main__":
    sys.exit(main())
