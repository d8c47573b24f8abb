import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MqttTopicError,
  checkPrefix,
  parseTopic,
  subscriptionFor,
  topicFor,
} from '../../../src/binding/mqtt/mqtt-topics.js';

describe('MQTT binding topics', () => {
  it('builds [PREFIX/]lwm2m/{bs|rd}/{ep}', () => {
    assert.equal(topicFor(undefined, 'rd', 'dev-1'), 'lwm2m/rd/dev-1');
    assert.equal(topicFor('', 'bs', 'dev-1'), 'lwm2m/bs/dev-1');
    assert.equal(topicFor('tenant/a', 'rd', 'urn:imei:1234'), 'tenant/a/lwm2m/rd/urn:imei:1234');
    assert.equal(subscriptionFor('t1', 'rd'), 't1/lwm2m/rd/+');
    assert.equal(subscriptionFor(undefined, 'bs'), 'lwm2m/bs/+');
  });

  it('parses topics back, only under the prefix', () => {
    assert.deepEqual(parseTopic('t1', 't1/lwm2m/rd/dev'), { iface: 'rd', ep: 'dev' });
    assert.deepEqual(parseTopic(undefined, 'lwm2m/bs/dev'), { iface: 'bs', ep: 'dev' });
    assert.equal(parseTopic('t1', 't2/lwm2m/rd/dev'), undefined);
    assert.equal(parseTopic(undefined, 't1/lwm2m/rd/dev'), undefined);
    assert.equal(parseTopic(undefined, 'lwm2m/xx/dev'), undefined);
    assert.equal(parseTopic(undefined, 'lwm2m/rd/dev/extra'), undefined);
    assert.equal(parseTopic(undefined, 'lwm2m/rd/'), undefined);
    assert.equal(parseTopic(undefined, 'lwm2m/rd/a+b'), undefined);
  });

  it('refuses endpoints that would change the topic', () => {
    for (const ep of ['', 'a/b', 'a+', '#', 'a\u0000'])
      assert.throws(() => topicFor(undefined, 'rd', ep), MqttTopicError, JSON.stringify(ep));
  });

  it('refuses prefixes with wildcards or empty levels', () => {
    for (const prefix of ['a/+', '#', 'a//b', '/a', 'a/'])
      assert.throws(() => checkPrefix(prefix), MqttTopicError, prefix);
    assert.equal(checkPrefix('a/b'), 'a/b');
    assert.equal(checkPrefix(''), undefined);
  });
});
