// petrel-lwm2m: the model and the content formats (roles and transports arrive with their issues).
export { PetrelError } from './errors.js';
export * from './model/index.js';
export * from './content/index.js';
