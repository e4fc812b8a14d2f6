import { expect } from 'chai';

import { InputError } from '../../../common/errors';
import { FRESHNESS_WORKFLOW, RELEASE_WORKFLOW, releaseQuery } from '../../../common/temporalNames';
import { metadataFreshnessWorkflow, releaseWorkflow } from '../../../workflows';
import { refusal } from '../../rejection';

describe('workflow type names', () => {
  it('are the names of the functions workflows/ exports', () => {
    expect(RELEASE_WORKFLOW).to.equal(releaseWorkflow.name);
    expect(FRESHNESS_WORKFLOW).to.equal(metadataFreshnessWorkflow.name);
  });
});

describe('releaseQuery', () => {
  it('selects release workflows only when given no filter', () => {
    expect(releaseQuery()).to.equal("WorkflowType = 'releaseWorkflow'");
  });

  it('adds one quoted clause per filter, joined with AND', () => {
    expect(releaseQuery({ version: '1.2.0', channel: 'beta', stage: 'rollout', awaitingApproval: true })).to.equal(
      "WorkflowType = 'releaseWorkflow' AND OtaVersion = '1.2.0' AND OtaChannel = 'beta' AND OtaStage = 'rollout' AND OtaAwaitingApproval = true",
    );
    expect(releaseQuery({ awaitingApproval: false })).to.contain('OtaAwaitingApproval = false');
  });

  it('selects running releases or finished ones in a stage', () => {
    expect(releaseQuery({ channel: 'beta', runningOr: { stage: 'stable' } })).to.equal(
      "WorkflowType = 'releaseWorkflow' AND OtaChannel = 'beta' AND (ExecutionStatus = 'Running' OR OtaStage = 'stable')",
    );
  });

  it('refuses a value that could end its quotes or hide in control characters', () => {
    const values = [
      "1.0' OR '1'='1",
      'a"b',
      'back\\slash',
      'back`tick',
      'new\nline',
      'nul\u0000',
      'del\u007f',
      'tab\tbed',
    ];
    for (const value of values) {
      const err = refusal(() => releaseQuery({ channel: value }));
      expect(err, JSON.stringify(value)).to.be.instanceOf(InputError).and.have.property('code', 'INVALID_INPUT');
    }
    expect(refusal(() => releaseQuery({ runningOr: { stage: "x' OR 'y" } }))).to.have.property('code', 'INVALID_INPUT');
  });

  it('accepts a value of 256 characters and refuses one longer', () => {
    expect(releaseQuery({ version: 'v'.repeat(256) })).to.contain(`'${'v'.repeat(256)}'`);
    expect(refusal(() => releaseQuery({ version: 'v'.repeat(257) })))
      .to.be.instanceOf(InputError)
      .and.have.property('code', 'INVALID_INPUT');
  });
});
