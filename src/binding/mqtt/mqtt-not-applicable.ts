import { OperationError } from '../../operations/result-code.js';

/**
 * A request the MQTT binding cannot carry: the 1.2.2 map has no key for it (`lt`, `con`, `pid`,
 * `acc`, extra Register parameters). Refused before anything is published, with 4.00, so the
 * caller learns it locally; `feature` names what has no key. An OperationError ('bad-attributes'
 * for attributes, 'bad-parameter' otherwise), so roles handle it like any invalid request.
 */
export class MqttNotApplicableError extends OperationError {
  readonly feature: string;
  constructor(feature: string, message: string) {
    super(feature === 'lt' || feature === 'con' ? 'bad-attributes' : 'bad-parameter', '4.00', message);
    this.feature = feature;
  }
}
