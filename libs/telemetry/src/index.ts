export * from './trace-context';
export * from './telemetry-env.schema';
export * from './tracing';
export * from './metrics-registry';
export * from './otlp-receiver';
